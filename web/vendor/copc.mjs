// The entry esbuild bundles into node_modules/.vendor/copc.js (`npm run vendor`): copc ships as
// CommonJS, which a browser cannot import; this names the parts the point-cloud view uses.
export { Copc, Hierarchy, Las } from "copc";
