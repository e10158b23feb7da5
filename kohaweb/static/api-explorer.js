// The API explorer (/api/v1/explorer): Swagger UI over the site's own OpenAPI document.
// A file rather than an inline script, so the page's Content-Security-Policy can forbid inline code.
(function () {
  "use strict";
  var holder = document.getElementById("swagger-ui");
  if (!holder || typeof SwaggerUIBundle !== "function") {
    return;
  }
  var csrfToken = holder.getAttribute("data-csrf-token");
  var safe = { GET: true, HEAD: true, OPTIONS: true };

  window.ui = SwaggerUIBundle({
    url: holder.getAttribute("data-url"),
    domNode: holder,
    deepLinking: true,
    // credentials given under Authorize (bearer token, Basic) survive a reload
    persistAuthorization: true,
    // the staff session's cookie goes with every request (same origin)
    withCredentials: true,
    displayRequestDuration: true,
    filter: true,
    // never send the document to the public validator service
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    requestInterceptor: function (request) {
      // cookie-authenticated writes must prove they come from a page of this site (X-CSRF-Token);
      // requests with a bearer token or Basic credentials do not need it and ignore it
      var method = (request.method || "GET").toUpperCase();
      request.headers = request.headers || {};
      // a refused request must not raise the browser's own Basic sign-in dialog over the page
      request.headers["X-Requested-With"] = "XMLHttpRequest";
      if (csrfToken && !safe[method]) {
        request.headers = request.headers || {};
        request.headers["X-CSRF-Token"] = csrfToken;
      }
      return request;
    }
  });
}());
