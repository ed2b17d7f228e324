// An app function (no endpoint), called by a UI extension through hubspot.serverless().
const { pick } = require('./quotes');

exports.main = async (context = {}) => {
  const { parameters = {}, propertiesToSend = {} } = context;
  const quote = pick(parameters.index);
  return { quote, for: propertiesToSend.firstname || 'you', portalId: context.portalId };
};
