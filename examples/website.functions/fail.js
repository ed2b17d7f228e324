// A thrown error: the client gets a 500 with the request id; the stack goes to the logs.
exports.main = async () => {
  console.log('about to fail');
  throw new Error('something went wrong in fail.js');
};
