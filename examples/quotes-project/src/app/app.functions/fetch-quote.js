// The reference's fetch-quote example, minus the network: async, returns {statusCode, body, headers}.
const { pick } = require('./quotes');

exports.main = async (context) => {
  try {
    const index = context.params.index ? Number(context.params.index[0]) : undefined;
    const quote = pick(index);
    console.log(`"${quote.q}" — ${quote.a}`);
    return { statusCode: 200, body: quote, headers: { 'Content-Type': 'application/json' } };
  } catch (error) {
    console.error('Error picking a quote:', error.message);
    return { statusCode: 500, body: { error: 'Failed to fetch quote' } };
  }
};
