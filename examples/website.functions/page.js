// A string body is sent as text/html unless the function names another Content-Type.
exports.main = async () => ({
  statusCode: 200,
  body: `<!doctype html><title>${process.env.SITE_NAME}</title><h1>${process.env.SITE_NAME}</h1>`,
});
