// Types of the global SSEStream that <script src="sse.js"> defines (for a page's own
// TypeScript; include this file, e.g. /// <reference path=".../sse/sse.d.ts" />).
// The types themselves are sse.d.mts's, the module's.

import type * as sse from "./sse.mjs";

declare global {
  var SSEStream: typeof sse.SSEStream;
  type SSEStream<Events extends object = Record<string, any>> = sse.SSEStream<Events>;
}
