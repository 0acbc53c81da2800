/// <reference path="../../sse/static/sse/sse.d.ts" />
// The global SSEStream that <script src="sse.js"> defines, as sse.d.ts types it.
// tests/bundler/test_declarations.py runs tsc --noEmit --strict on it.

const ticks: SSEStream<{tick: {n: number}}> = new SSEStream<{tick: {n: number}}>({channels: ["broadcast"]});
ticks.on("tick", (data) => data.n.toFixed()).start();
// @ts-expect-error: no such field in the event's data
ticks.on("tick", (data) => data.m);
