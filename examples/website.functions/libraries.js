// HubSpot's preloaded packages resolve without a package.json.
const axios = require('axios');
const _ = require('lodash');

exports.main = async (context) => {
  const words = (context.params.words && context.params.words[0]) || 'serverless functions on your own machine';
  return {
    statusCode: 200,
    body: {
      kebab: _.kebabCase(words),
      chunks: _.chunk(words.split(' '), 2),
      axiosVersion: axios.VERSION,
    },
  };
};
