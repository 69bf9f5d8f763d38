// End-to-end test: drive brigd with the official MCP TypeScript client SDK.
//
// Usage: node mcp_sdk.mjs SOCKET [AUDIT_LOG]
//
// brigd speaks MCP as newline-delimited JSON-RPC over a Unix stream socket. The SDK has no transport
// for that, so SocketTransport below implements its Transport interface over net.createConnection();
// everything above it (initialize, version negotiation, request ids, progress tokens, output-schema
// validation, cancellation) is the SDK's own code. Every line brigd sends goes through the SDK's
// JSONRPCMessageSchema, and a line the SDK rejects fails the run with the line and the reason quoted.
//
// Output is node:test's (TAP when stdout is not a terminal); the exit status is non-zero on failure.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { deserializeMessage, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';

const socketPath = process.argv[2];
const auditPath = process.argv[3];
if (!socketPath) {
    console.error('usage: node mcp_sdk.mjs SOCKET [AUDIT_LOG]');
    process.exit(2);
}

const MAX_LINE = 16 * 1024 * 1024;

/** MCP Transport over a Unix stream socket, one JSON-RPC message per '\n'-terminated line. */
class SocketTransport {
    #rejectFirst;

    constructor(path) {
        this.path = path;
        this.socket = undefined;
        this.buffer = Buffer.alloc(0);
        this.closed = false;
        /** Every message received, raw text and parsed, in order: for checks below the SDK's API. */
        this.received = [];
        /** Every message sent, in order. */
        this.sent = [];
        /** Lines the SDK's schema (or JSON.parse) refused: {line, error}. */
        this.rejected = [];
        /** Rejects at the first refused line, so a test waiting for an answer fails at once. */
        this.firstRejection = new Promise((_, reject) => (this.#rejectFirst = reject));
        this.firstRejection.catch(() => {});
        this.protocolVersion = undefined;
        this.onclose = undefined;
        this.onerror = undefined;
        this.onmessage = undefined;
    }

    start() {
        if (this.socket)
            throw new Error('SocketTransport already started');
        return new Promise((resolve, reject) => {
            const s = net.createConnection(this.path);
            this.socket = s;
            let connected = false;
            s.on('connect', () => {
                connected = true;
                resolve();
            });
            s.on('data', (chunk) => this.#onData(chunk));
            s.on('error', (err) => {
                if (!connected)
                    reject(err);
                else
                    this.onerror?.(err);
            });
            s.on('close', () => this.#onClose());
        });
    }

    #onData(chunk) {
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
        for (;;) {
            const nl = this.buffer.indexOf(0x0a);
            if (nl < 0)
                break;
            const line = this.buffer.toString('utf8', 0, nl).replace(/\r$/, '');
            this.buffer = this.buffer.subarray(nl + 1);
            if (line.length === 0)
                continue;
            let message;
            try {
                message = deserializeMessage(line); // JSON.parse + the SDK's JSONRPCMessageSchema
            } catch (err) {
                const e = new Error(`the SDK rejected a line from brigd\n  line: ${line}\n  reason: ${err.message}`);
                this.rejected.push({ line, error: err });
                this.#rejectFirst(e);
                this.onerror?.(e);
                continue;
            }
            this.received.push({ at: this.received.length, line, message });
            this.onmessage?.(message);
        }
        if (this.buffer.length > MAX_LINE) {
            this.onerror?.(new Error(`brigd sent more than ${MAX_LINE} bytes without a newline`));
            this.socket.destroy();
        }
    }

    #onClose() {
        if (this.closed)
            return;
        this.closed = true;
        if (this.buffer.length)
            this.onerror?.(new Error(`connection closed with ${this.buffer.length} bytes of an unterminated line`));
        this.onclose?.();
    }

    send(message) {
        return new Promise((resolve, reject) => {
            if (!this.socket || this.closed || this.socket.destroyed) {
                reject(new Error('SocketTransport: not connected'));
                return;
            }
            this.sent.push(message);
            this.socket.write(serializeMessage(message), (err) => (err ? reject(err) : resolve()));
        });
    }

    setProtocolVersion(version) {
        this.protocolVersion = version;
    }

    close() {
        return new Promise((resolve) => {
            if (!this.socket || this.closed) {
                resolve();
                return;
            }
            this.socket.once('close', () => resolve());
            this.socket.end();
            // brigd closes its end when ours is shut; don't wait forever if it does not.
            setTimeout(() => this.socket.destroy(), 2000).unref();
        });
    }
}

const transport = new SocketTransport(socketPath);
const client = new Client({ name: 'brig-e2e', version: '0.0.0' }, { capabilities: {} });
const asyncErrors = [];
client.onerror = (err) => asyncErrors.push(err);

const T = { timeout: 30_000 };

/** An SDK call, failed early (with the line quoted) if the SDK refuses anything brigd sends meanwhile. */
function sdk(promise) {
    return Promise.race([promise, transport.firstRejection]);
}

/** tools/call exec through the SDK, which also checks structuredContent against the outputSchema. */
function callExec(args, options) {
    return sdk(client.callTool({ name: 'exec', arguments: args }, undefined, options));
}

function describeResult(r) {
    return JSON.stringify(r?.structuredContent ?? r);
}

/** Responses (not notifications) brigd sent for one request id. */
function responsesFor(id) {
    return transport.received.filter((m) => m.message.id === id && !('method' in m.message));
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

before(async () => {
    await sdk(client.connect(transport, { timeout: 10_000 }));
});

after(async () => {
    await client.close();
});

test('initialize: serverInfo.name is "brig"', T, () => {
    const info = client.getServerVersion();
    assert.ok(info, 'no serverInfo after initialize');
    assert.equal(info.name, 'brig');
    assert.equal(typeof info.version, 'string');
});

test(`initialize: negotiated protocol version is the SDK's latest (${LATEST_PROTOCOL_VERSION})`, T, () => {
    assert.equal(transport.protocolVersion, LATEST_PROTOCOL_VERSION);
});

test('initialize: result carries _meta["brig/environment"] and the tools capability', T, () => {
    const init = transport.received.find((m) => m.message.result?.serverInfo);
    assert.ok(init, 'initialize response not seen');
    assert.match(String(init.message.result._meta?.['brig/environment']), /^env-[0-9a-z]+$/);
    assert.ok(client.getServerCapabilities()?.tools, 'server did not declare the tools capability');
});

test('tools/list: contains "exec" with an inputSchema and an outputSchema', T, async () => {
    const { tools } = await sdk(client.listTools());
    const exec = tools.find((t) => t.name === 'exec');
    assert.ok(exec, `no "exec" tool in ${JSON.stringify(tools.map((t) => t.name))}`);
    assert.equal(exec.inputSchema?.type, 'object');
    assert.ok(exec.inputSchema.properties?.command, 'inputSchema has no "command" property');
    assert.equal(exec.outputSchema?.type, 'object');
});

test('tools/call exec: python3 prints 42 (structuredContent passes the SDK outputSchema check)', T, async () => {
    const r = await callExec({ command: "python3 -c 'print(6*7)'" });
    assert.equal(r.isError, false, describeResult(r));
    assert.equal(r.structuredContent.exit_code, 0, describeResult(r));
    assert.equal(r.structuredContent.stdout, '42\n');
    assert.equal(r.structuredContent.timed_out, false);
    assert.equal(r.content[0]?.type, 'text');
    assert.equal(typeof r.content[0].text, 'string');
});

test('tools/call exec: argv form', T, async () => {
    const r = await callExec({ argv: ['printf', '%s-%s', 'a b', 'c'] });
    assert.equal(r.isError, false, describeResult(r));
    assert.equal(r.structuredContent.stdout, 'a b-c');
});

test('tools/call exec: output streams as progress notifications before the result', T, async () => {
    const progress = [];
    const seenBefore = transport.received.length;
    const r = await callExec(
        { command: 'for i in 1 2 3; do echo line$i; sleep 0.2; done' },
        { onprogress: (p) => progress.push({ ...p, at: transport.received.length - 1 }) },
    );
    assert.equal(r.isError, false, describeResult(r));
    assert.equal(r.structuredContent.stdout, 'line1\nline2\nline3\n');
    assert.ok(progress.length >= 2, `expected at least 2 progress notifications, got ${JSON.stringify(progress)}`);
    for (let i = 1; i < progress.length; i++)
        assert.ok(progress[i].progress > progress[i - 1].progress,
                  `progress not strictly increasing: ${JSON.stringify(progress.map((p) => p.progress))}`);
    const text = progress.map((p) => p.message ?? '').join('');
    for (const l of ['line1', 'line2', 'line3'])
        assert.ok(text.includes(l), `progress messages lack ${l}: ${JSON.stringify(text)}`);
    // Ordering on the wire: all notifications for this call arrived before its response.
    const resp = transport.received.slice(seenBefore).find((m) => m.message.result?.structuredContent);
    assert.ok(resp, 'response not recorded');
    for (const p of progress)
        assert.ok(p.at < resp.at, 'a progress notification arrived after the result');
});

test('tools/call exec: exit 3 gives isError true and exit_code 3', T, async () => {
    const r = await callExec({ command: 'echo oops >&2; exit 3' });
    assert.equal(r.isError, true, describeResult(r));
    assert.equal(r.structuredContent.exit_code, 3);
    assert.equal(r.structuredContent.stderr, 'oops\n');
    assert.equal(r.structuredContent.timed_out, false);
});

test('tools/call exec: timeout_ms 300 on sleep 30 gives timed_out and isError', T, async () => {
    const t0 = Date.now();
    const r = await callExec({ command: 'sleep 30', timeout_ms: 300 });
    const elapsed = Date.now() - t0;
    assert.equal(r.structuredContent.timed_out, true, describeResult(r));
    assert.equal(r.isError, true, describeResult(r));
    assert.ok(elapsed < 15_000, `timeout took ${elapsed} ms`);
});

test('tools/call exec: AbortController cancels sleep 30, then the client still works', T, async () => {
    const ac = new AbortController();
    const mark = transport.received.length;
    let started = false;
    const t0 = Date.now();
    const call = callExec(
        { command: 'echo started; exec sleep 30' },
        {
            signal: ac.signal,
            onprogress: (p) => {
                // Abort once the command is demonstrably running in its jail.
                if (!started && String(p.message).includes('started')) {
                    started = true;
                    ac.abort();
                }
            },
        },
    );
    await assert.rejects(call, (err) => {
        assert.ok(ac.signal.aborted, `rejected before the abort: ${err}`);
        return true;
    });
    assert.ok(started, 'no "started" progress notification arrived before the abort');
    assert.ok(Date.now() - t0 < 15_000, 'cancellation took too long');

    // The SDK sent notifications/cancelled; brigd must not answer the cancelled request, and the
    // connection must still serve requests.
    const note = transport.received.slice(mark).find((m) => m.message.method === 'notifications/progress');
    const r = await callExec({ command: 'echo after-cancel' });
    assert.equal(r.isError, false, describeResult(r));
    assert.equal(r.structuredContent.stdout, 'after-cancel\n');
    await sleep(200);
    assert.ok(note, 'no progress notification recorded for the cancelled call');
    const id = note.message.params.progressToken; // the SDK uses the request id as the progress token
    assert.ok(transport.sent.some((m) => m.method === 'notifications/cancelled' && m.params?.requestId === id),
              'the SDK did not send notifications/cancelled');
    assert.deepEqual(responsesFor(id), [], 'brigd sent a response to a cancelled request');

    if (auditPath) {
        // brigd's audit log records the call as cancelled well before its 30 s would have run out.
        let ended;
        for (let i = 0; i < 50 && !ended; i++) {
            const events = readFileSync(auditPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
            ended = events.filter((e) => e.type === 'call_end' && e.cancelled === true).at(-1);
            if (!ended)
                await sleep(100);
        }
        assert.ok(ended, 'audit log has no call_end with cancelled: true');
        assert.ok(ended.duration_ms < 15_000, `cancelled call ran ${ended.duration_ms} ms`);
    }
});

test('tools/call exec: several calls in flight on one connection', T, async () => {
    const rs = await Promise.all([1, 2, 3].map((i) => callExec({ command: `sleep 0.${i}; echo ${i}` })));
    assert.deepEqual(rs.map((r) => r.structuredContent.stdout), ['1\n', '2\n', '3\n']);
});

test('ping', T, async () => {
    assert.deepEqual(await sdk(client.ping()), {});
});

test('no line from brigd was rejected by the SDK, and no async client errors', T, () => {
    assert.deepEqual(transport.rejected.map((r) => `line: ${r.line}\n  reason: ${r.error.message}`), []);
    assert.deepEqual(asyncErrors.map(String), []);
});
