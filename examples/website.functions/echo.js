// Returns the context it was given, so you can see what HubSpot passes to a function.
exports.main = async (context) => {
  const { params, body, headers, method, endpoint, accountId, limits, contact } = context;
  return {
    statusCode: 200,
    body: { method, endpoint, accountId, params, body, headers, limits, contact, greeting: process.env.GREETING },
  };
};
