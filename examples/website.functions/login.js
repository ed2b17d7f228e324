// Sets two cookies with multiValueHeaders, as HubSpot documents.
exports.main = async ({ body }) => ({
  statusCode: 200,
  multiValueHeaders: {
    'Set-Cookie': [
      `session=${encodeURIComponent((body && body.user) || 'anonymous')}; Path=/; HttpOnly`,
      'theme=dark; Path=/; Max-Age=3600',
    ],
  },
  body: { ok: true },
});
