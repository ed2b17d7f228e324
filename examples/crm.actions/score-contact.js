// A workflow custom-code action: scores a contact from its inputs. Run it once with
//   build/sprocket actions test score-contact --path examples --event examples/crm.actions/event.json
// or queue it on `make serve`'s node with
//   build/sprocket actions run score-contact --event examples/crm.actions/event.json --wait
const _ = require('lodash');

exports.main = async (event, callback) => {
  const revenue = Number(event.inputFields.annualrevenue) || 0;
  const score = _.clamp(Math.round(Math.log10(revenue + 1) * 10), 0, 100);
  const tier = score >= 60 ? 'gold' : score >= 40 ? 'silver' : 'bronze';
  console.log(`scored ${event.inputFields.email}: ${score} (${tier})`);
  const today = new Date();
  today.setUTCHours(0, 0, 0, 0); // a date output is UNIX milliseconds at midnight UTC
  callback({ outputFields: { score, tier, scoredOn: today.getTime() } });
};
