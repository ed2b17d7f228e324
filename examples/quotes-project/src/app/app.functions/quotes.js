// Shared by the functions in this folder: a function may require its own modules.
const _ = require('lodash');

const QUOTES = [
  { q: 'Simplicity is prerequisite for reliability.', a: 'Edsger W. Dijkstra' },
  { q: 'Make it work, make it right, make it fast.', a: 'Kent Beck' },
  { q: 'Premature optimization is the root of all evil.', a: 'Donald Knuth' },
];

exports.pick = (index) => (index === undefined ? _.sample(QUOTES) : QUOTES[index % QUOTES.length]);
