// A redirect: status 301/302 and a Location header.
exports.main = (context, sendResponse) => {
  const to = (context.params.to && context.params.to[0]) || '/_hcms/api/hello';
  sendResponse({ statusCode: 302, headers: { Location: to } });
};
