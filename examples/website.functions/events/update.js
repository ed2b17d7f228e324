// A nested endpoint name: served at /_hcms/api/events/update.
exports.main = async ({ body }) => {
  if (!body || typeof body.id !== 'number') {
    return { statusCode: 400, body: { error: 'send {"id": <number>, "title": "..."} as JSON' } };
  }
  return { statusCode: 200, body: { updated: body.id, title: body.title || null } };
};
