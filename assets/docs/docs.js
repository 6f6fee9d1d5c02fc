// Starts the embedded Scalar reference on /docs with the document at the root element's
// data-openapi-url. Nothing may load from another host, so everything of Scalar's that would
// call out is off: its default fonts, telemetry, the request proxy (requests go straight to
// this server), the AI agent, the MCP panel and the developer tools (which talk to Scalar's
// services). The page's Content-Security-Policy blocks whatever a future version adds.
'use strict';
(function () {
  var root = document.getElementById('reference');
  window.Scalar.createApiReference(root, {
    url: root.dataset.openapiUrl,
    // The document names no server: requests and code samples go to the one serving this page.
    servers: [{ url: window.location.origin, description: 'This server' }],
    withDefaultFonts: false,
    telemetry: false,
    showDeveloperTools: 'never',
    agent: { disabled: true },
    mcp: { disabled: true },
    persistAuth: false,
    documentDownloadType: 'json',
    metaData: { title: 'Charter API reference' },
  });
})();
