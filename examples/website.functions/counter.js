// Module state lives as long as the warm instance, as on HubSpot (AWS Lambda).
let invocations = 0;
exports.main = async () => {
  invocations += 1;
  return { statusCode: 200, body: { invocations, pid: process.pid } };
};
