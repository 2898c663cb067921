// Starts Swagger UI on the API docs page. Settings come from the page's JSON block (CSP forbids inline script).
(function () {
  "use strict";
  var settingsBlock = document.getElementById("swagger-settings");
  var config = JSON.parse(settingsBlock.textContent);
  var csrfToken = document.body.dataset.csrfToken;

  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis];
  config.layout = "BaseLayout";
  // "Try it out" from a signed-in browser uses the session, which needs the CSRF token on writes.
  config.requestInterceptor = function (request) {
    if (csrfToken && !request.headers["Authorization"]) {
      request.headers["X-CSRFToken"] = csrfToken;
    }
    return request;
  };
  window.ui = SwaggerUIBundle(config);
})();
