// The OpenAPI page (/openapi?f=html, geoportal/app/templates/openapi/swagger.html): Swagger UI
// from npm, served by the portal itself. validatorUrl null: Swagger UI would otherwise send the
// document to validator.swagger.io for a badge, a request to another host.
window.addEventListener("DOMContentLoaded", () => {
  const node = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: node.dataset.openapi,
    domNode: node,
    validatorUrl: null,
    deepLinking: true,
    tryItOutEnabled: false,
  });
});
