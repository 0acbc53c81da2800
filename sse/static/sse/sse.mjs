/* sse.mjs: sse.js as an ES module, for bundlers (esbuild, Vite, webpack, Rollup) and
 * <script type="module">. Types: sse.d.mts. Usage: docs/bundlers.md.
 *
 *   import SSEStream from "./sse.mjs";        // or: import {SSEStream} from "./sse.mjs";
 *
 * The client itself is sse.js, one copy for both ways of loading it: importing this module
 * runs sse.js, which defines the global SSEStream (as a <script> of it does; sse-htmx.js
 * finds it there), and exports that.
 */
import "./sse.js";

const SSEStream = globalThis.SSEStream;

export {SSEStream};
export default SSEStream;
