// The callback style of HubSpot's design-manager functions.
exports.main = (context, sendResponse) => {
  console.log(`hello called from ${context.headers['user-agent']}`);
  sendResponse({
    statusCode: 200,
    body: { message: `${process.env.GREETING}, world`, accountId: context.accountId },
  });
};
