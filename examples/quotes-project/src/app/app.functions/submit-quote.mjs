// An ES module function: `export const main`.
export const main = async ({ body }) => {
  if (!body || !body.q) return { statusCode: 400, body: { error: 'send {"q": "...", "a": "..."}' } };
  return { statusCode: 201, body: { saved: { q: body.q, a: body.a || 'anonymous' } } };
};
