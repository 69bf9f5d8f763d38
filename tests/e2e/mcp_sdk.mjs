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
// The second half drives persistent environments: two clients in turn attached to the named environment
// "e2e-state" share its workspace, /tmp, background processes and loopback; "e2e-other" shares none of
// it; brig/environment.destroy removes both. The SDK's Client has no way to put `_meta` in the
// initialize params, so SocketTransport injects it (see its `initializeMeta` option).
//
// Output is node:test's (TAP when stdout is not a terminal); the exit status is non-zero on failure.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { deserializeMessage, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';

const socketPath = process.argv[2];
const auditPath = process.argv[3];
if (!socketPath) {
    console.error('usage: node mcp_sdk.mjs SOCKET [AUDIT_LOG]');
    process.exit(2);
}

const MAX_LINE = 16 * 1024 * 1024;

/**
 * MCP Transport over a Unix stream socket, one JSON-RPC message per '\n'-terminated line.
 *
 * options.initializeMeta: keys merged into the `_meta` of the outgoing `initialize` request's params.
 * SDK 1.32.2's Client.connect() builds the initialize request itself (protocolVersion, capabilities,
 * clientInfo) and offers no hook for params._meta, so send() adds it on the way out; the SDK's own
 * initialize handling (response schema, version negotiation, notifications/initialized) is unchanged.
 */
class SocketTransport {
    #rejectFirst;

    constructor(path, { initializeMeta } = {}) {
        this.path = path;
        this.initializeMeta = initializeMeta;
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
            if (this.initializeMeta && message.method === 'initialize')
                message = {
                    ...message,
                    params: { ...message.params, _meta: { ...message.params?._meta, ...this.initializeMeta } },
                };
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

/** Clients connected by connectClient() and not closed yet; after() closes any a failed test left. */
const extraClients = new Set();
/** Every transport used, for the final check that brigd sent nothing the SDK refused. */
const allTransports = [transport];

after(async () => {
    await client.close();
    for (const c of extraClients)
        await c.close();
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

const TOOL_NAMES = ['exec', 'process_kill', 'process_list', 'process_output', 'process_write'];

test(`tools/list: includes the tools ${TOOL_NAMES.join(', ')}`, T, async () => {
    const { tools } = await sdk(client.listTools());
    const names = tools.map((t) => t.name);
    // Inclusion, not equality: brig may add tools (a build with a "repl" tool already exists).
    for (const name of TOOL_NAMES)
        assert.ok(names.includes(name), `no "${name}" tool in ${JSON.stringify(names)}`);
    for (const t of tools)
        assert.equal(t.inputSchema?.type, 'object', `${t.name} has no object inputSchema`);
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

/** tools/call of any tool through the SDK, after tools/list: the SDK checks structuredContent against the
 * tool's outputSchema and rejects the call when it does not match. */
async function callTool(name, args) {
    await sdk(client.listTools());
    return sdk(client.callTool({ name, arguments: args }));
}

function textOf(r) {
    return r.content?.[0]?.text ?? '';
}

test('every tool declares an outputSchema, a title, annotations, and a description for each argument', T, async () => {
    const { tools } = await sdk(client.listTools());
    for (const t of tools) {
        assert.equal(t.outputSchema?.type, 'object', `${t.name} has no outputSchema`);
        assert.ok(t.title && t.annotations, `${t.name} has no title or annotations`);
        for (const [k, v] of Object.entries(t.inputSchema.properties ?? {}))
            assert.ok(v.description, `${t.name}.${k} has no description`);
    }
});

test('after tools/list, the SDK accepts a background start, process_output, files, repl and argument errors', T, async () => {
    const bg = await callTool('exec', { command: 'echo bg', background: true });
    assert.equal(bg.isError, false, describeResult(bg));
    assert.match(bg.structuredContent.process_id, /^p[0-9]+$/);
    const out = await callTool('process_output', { process_id: bg.structuredContent.process_id });
    assert.equal(out.isError, false, describeResult(out));
    const w = await callTool('write_file', { path: 'e2e-edit.txt', content: 'a\na\n' });
    assert.equal(w.isError, false, describeResult(w));
    const rd = await callTool('read_file', { path: 'e2e-edit.txt', offset: null, limit: null });
    assert.equal(rd.structuredContent.content, 'a\na\n', describeResult(rd));
    const ed = await callTool('edit_file', { path: 'e2e-edit.txt', edits: [{ old_text: 'a', new_text: 'b' }] });
    assert.equal(ed.isError, true, describeResult(ed));
    const repl = await callTool('repl', { language: 'python', code: '6*7' });
    assert.match(repl.structuredContent.output, /42/, describeResult(repl));
    // A wrong argument is a result the model reads (SEP-1303), naming the field.
    const bad = await callTool('exec', { command: 'true', cwd: '../etc' });
    assert.equal(bad.isError, true, describeResult(bad));
    assert.match(textOf(bad), /arguments\.cwd/);
    // Strict-mode clients send null for what they leave out, and env as [{name, value}].
    const strict = await callTool('exec', { command: 'echo $A', argv: null, cwd: null, env: [{ name: 'A', value: 'x' }],
                                            stdin: null, timeout_ms: null, background: null });
    assert.equal(strict.structuredContent.stdout, 'x\n', describeResult(strict));
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

// --- Persistent environments -------------------------------------------------------------------------
//
// The tests below run in order and hand state on through `env`; each says so when an earlier one did not
// get far enough. brigd's environments (and everything running in them) die with brigd, and run.sh gives
// each run a fresh --state-dir, so a failed run leaves nothing behind.

const TE = { timeout: 60_000 }; // the first call in a new environment starts its holder (a jail build)
const CALL = { timeout: 20_000 }; // per SDK request
const STATE_ENV = 'e2e-state';
const OTHER_ENV = 'e2e-other';
const PORT = 8765;
const MARKER = `marker-${randomBytes(6).toString('hex')}`;

const env = {
    a: undefined, // client A in e2e-state
    b: undefined, // client B in e2e-state
    serverStarted: false,
    processId: undefined,
    ids: {}, // environment name -> id from the initialize result
};

/** A client attached with `_meta` in its initialize params; closed by after() if a test does not. */
async function connectClient(meta) {
    const tr = new SocketTransport(socketPath, { initializeMeta: meta });
    allTransports.push(tr);
    const c = new Client({ name: 'brig-e2e-env', version: '0.0.0' }, { capabilities: {} });
    c.onerror = (err) => asyncErrors.push(err);
    const race = (p) => Promise.race([p, tr.firstRejection]);
    await race(c.connect(tr, { timeout: 30_000 }));
    const h = {
        client: c,
        transport: tr,
        race,
        /** The initialize result's _meta. */
        initMeta: tr.received.find((m) => m.message.result?.serverInfo)?.message.result._meta,
        tool: (name, args, options) => race(c.callTool({ name, arguments: args }, undefined, { ...CALL, ...options })),
        exec: (args) => h.tool('exec', args),
        async close() {
            extraClients.delete(h);
            await c.close();
        },
    };
    extraClients.add(h);
    return h;
}

/** Python that GETs http://localhost:PORT/ until it answers (10 s at most) and prints the body. */
const FETCH = `
import sys, time, urllib.request
deadline = time.monotonic() + 10
while True:
    try:
        sys.stdout.write(urllib.request.urlopen('http://localhost:${PORT}/', timeout=1).read().decode())
        break
    except Exception as e:
        if time.monotonic() > deadline:
            sys.exit(f'no answer from port ${PORT}: {e!r}')
        time.sleep(0.1)
`;

/** Python that tries http://localhost:PORT/ three times and prints "unreachable: ..." if all fail. */
const PROBE = `
import time, urllib.request
err = None
for _ in range(3):
    try:
        urllib.request.urlopen('http://localhost:${PORT}/', timeout=1).read()
        print('REACHABLE')
        break
    except Exception as e:
        err = e
        time.sleep(0.2)
else:
    print(f'unreachable: {err!r}')
`;

function assertListing(r) {
    assert.equal(r.isError, false, describeResult(r));
    assert.match(r.structuredContent.stdout, /Directory listing for \//, describeResult(r));
    assert.ok(r.structuredContent.stdout.includes(`${MARKER}.txt`),
              `listing lacks ${MARKER}.txt: ${r.structuredContent.stdout}`);
}

/** /proc/PID/stat fields after the command name: [state, ppid, ..., starttime at index 19]. */
function procStat(pid) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
        return undefined;
    }
}

/** Host processes descended from `root` (inclusive) whose command line contains all of `words`. */
function hostDescendants(root, words) {
    const children = new Map();
    for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name))
            continue;
        const f = procStat(name);
        if (!f)
            continue;
        const ppid = Number(f[1]);
        if (!children.has(ppid))
            children.set(ppid, []);
        children.get(ppid).push(Number(name));
    }
    const found = [];
    const queue = [root];
    while (queue.length) {
        const pid = queue.shift();
        queue.push(...(children.get(pid) ?? []));
        let argv;
        try {
            argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        } catch {
            continue;
        }
        if (words.every((w) => argv.includes(w)))
            found.push({ pid, starttime: procStat(pid)?.[19], argv: argv.filter(Boolean).join(' ') });
    }
    return found;
}

/** True once `p` ({pid, starttime}) is no longer a live process (gone, a zombie, or its pid reused). */
function processGone(p) {
    const f = procStat(p.pid);
    return !f || f[19] !== p.starttime || f[0] === 'Z' || f[0] === 'X';
}

/** A brig/environment.* request through the SDK's client.request() with our own result schema. */
function manage(method, params, schema) {
    return sdk(client.request({ method, params }, schema, CALL));
}

const EnvDescription = z.looseObject({ id: z.string(), state: z.string(), connections: z.number() });
const EnvList = z.looseObject({ environments: z.array(EnvDescription) });
const EnvInfo = EnvDescription.extend({ workspace: z.string(), init_pid: z.number().nullable() });
const Destroyed = z.looseObject({ destroyed: z.literal(true) });

test(`environment ${STATE_ENV}: client A attaches by initialize _meta, starts an http server, fetches it`, TE, async () => {
    env.a = await connectClient({ 'brig/environment': STATE_ENV, 'brig/policy': 'default' });
    const sentInit = env.a.transport.sent.find((m) => m.method === 'initialize');
    assert.equal(sentInit?.params?._meta?.['brig/environment'], STATE_ENV, 'the _meta injection did not happen');
    assert.equal(env.a.initMeta?.['brig/environment'], STATE_ENV, JSON.stringify(env.a.initMeta));
    env.ids[STATE_ENV] = env.a.initMeta['brig/environment'];

    const start = await env.a.exec({
        command: `cd /workspace && echo ${MARKER} >${MARKER}.txt && `
            + `(python3 -m http.server ${PORT} >/tmp/http.log 2>&1 &) && echo started`,
    });
    assert.equal(start.isError, false, describeResult(start));
    assert.equal(start.structuredContent.stdout, 'started\n');
    env.serverStarted = true;

    // A later call on the same connection reaches the server the earlier one left running.
    assertListing(await env.a.exec({ argv: ['python3', '-c', FETCH] }));
});

test(`environment ${STATE_ENV}: exec background: true returns a process_id; client A disconnects`, TE, async () => {
    assert.ok(env.a, 'client A did not connect (see the previous test)');
    const r = await env.a.exec({ command: 'for i in 1 2 3; do echo n$i; sleep 0.1; done', background: true });
    assert.equal(r.isError, false, describeResult(r));
    assert.match(String(r.structuredContent?.process_id), /^\S+$/, describeResult(r));
    assert.equal(r.structuredContent.state, 'running', describeResult(r));
    env.processId = r.structuredContent.process_id;
    await env.a.close();
    assert.ok(env.a.transport.closed, 'client A\'s connection did not close');
});

test(`environment ${STATE_ENV}: client B re-attaches: the server still answers, workspace and /tmp are kept`, TE, async () => {
    assert.ok(env.serverStarted, 'the http server was not started (see the first environment test)');
    env.b = await connectClient({ 'brig/environment': STATE_ENV, 'brig/policy': 'default' });
    assert.equal(env.b.initMeta?.['brig/environment'], env.ids[STATE_ENV], JSON.stringify(env.b.initMeta));

    assertListing(await env.b.exec({ argv: ['python3', '-c', FETCH] }));

    const cat = await env.b.exec({ command: `cat /workspace/${MARKER}.txt` });
    assert.equal(cat.isError, false, describeResult(cat));
    assert.equal(cat.structuredContent.stdout, `${MARKER}\n`);

    // The server's log in the environment's private /tmp has client A's and client B's requests.
    const log = await env.b.exec({ command: 'cat /tmp/http.log' });
    assert.equal(log.isError, false, describeResult(log));
    const gets = log.structuredContent.stdout.match(/"GET \/ HTTP\/1\.[01]" 200/g) ?? [];
    assert.ok(gets.length >= 2, `expected 2 logged GETs, got: ${log.structuredContent.stdout}`);
});

test(`environment ${STATE_ENV}: client B reads the background process to its end; process_list lists it`, TE, async () => {
    assert.ok(env.b && env.processId, 'no client B or no process_id (see the previous tests)');
    let data = '';
    let offset = 0;
    let last;
    const deadline = Date.now() + 15_000;
    for (;;) {
        const r = await env.b.tool('process_output', { process_id: env.processId, offset });
        assert.equal(r.isError, false, describeResult(r));
        last = r.structuredContent;
        assert.equal(last.process_id, env.processId);
        assert.equal(last.offset, offset, describeResult(r));
        assert.equal(last.encoding, 'utf8', describeResult(r));
        assert.equal(last.dropped_bytes, 0, describeResult(r));
        data += last.data;
        const gotNothing = last.next_offset === offset;
        offset = last.next_offset;
        // Done when it has exited and a read after that brought nothing new.
        if (last.state !== 'running' && gotNothing)
            break;
        assert.ok(Date.now() < deadline, `process still ${last.state} after 15 s; output so far ${JSON.stringify(data)}`);
        await sleep(100);
    }
    assert.equal(last.state, 'exited', JSON.stringify(last));
    assert.equal(last.exit_code, 0, JSON.stringify(last));
    assert.equal(data, 'n1\nn2\nn3\n');
    assert.equal(offset, Buffer.byteLength(data));

    const list = await env.b.tool('process_list', {});
    assert.equal(list.isError, false, describeResult(list));
    const p = list.structuredContent.processes.find((q) => q.process_id === env.processId);
    assert.ok(p, `process_list lacks ${env.processId}: ${describeResult(list)}`);
    assert.equal(p.state, 'exited');
    assert.equal(p.exit_code, 0);
    assert.equal(p.output_bytes, Buffer.byteLength(data));
    await env.b.close();
});

test(`environment ${OTHER_ENV}: sees neither the workspace file, /tmp, nor port ${PORT}`, TE, async () => {
    const o = await connectClient({ 'brig/environment': OTHER_ENV, 'brig/policy': 'default' });
    assert.equal(o.initMeta?.['brig/environment'], OTHER_ENV, JSON.stringify(o.initMeta));
    env.ids[OTHER_ENV] = o.initMeta['brig/environment'];

    const ls = await o.exec({ command: `test -e /workspace/${MARKER}.txt || test -e /tmp/http.log || echo absent` });
    assert.equal(ls.isError, false, describeResult(ls));
    assert.equal(ls.structuredContent.stdout, 'absent\n');

    const probe = await o.exec({ argv: ['python3', '-c', PROBE] });
    assert.equal(probe.isError, false, describeResult(probe));
    assert.match(probe.structuredContent.stdout, /^unreachable: /, describeResult(probe));
    await o.close();
});

test('brig/environment.destroy: both environments go, and the http server process with them', TE, async () => {
    const ids = [env.ids[STATE_ENV], env.ids[OTHER_ENV]].filter(Boolean);
    assert.equal(ids.length, 2, `environment ids missing: ${JSON.stringify(env.ids)}`);

    const before = await manage('brig/environment.list', {}, EnvList);
    for (const id of ids)
        assert.ok(before.environments.some((e) => e.id === id), `${id} not listed: ${JSON.stringify(before)}`);

    // Find the server on the host: a descendant of the environment's init with our command line.
    const info = await manage('brig/environment.info', { id: env.ids[STATE_ENV] }, EnvInfo);
    assert.ok(info.init_pid > 0, `no init_pid: ${JSON.stringify(info)}`);
    const init = { pid: info.init_pid, starttime: procStat(info.init_pid)?.[19] };
    assert.ok(init.starttime, `init pid ${init.pid} not found in /proc`);
    const servers = hostDescendants(info.init_pid, ['-m', 'http.server', String(PORT)]);
    assert.equal(servers.length, 1, `expected one http.server under init pid ${info.init_pid}: ${JSON.stringify(servers)}`);

    for (const id of ids)
        assert.deepEqual(await manage('brig/environment.destroy', { id }, Destroyed), { destroyed: true });

    const deadline = Date.now() + 10_000;
    while (!(processGone(servers[0]) && processGone(init)) && Date.now() < deadline)
        await sleep(50);
    assert.ok(processGone(servers[0]), `http server ${JSON.stringify(servers[0])} still alive 10 s after destroy`);
    assert.ok(processGone(init), `environment init ${init.pid} still alive 10 s after destroy`);

    const afterList = await manage('brig/environment.list', {}, EnvList);
    for (const id of ids)
        assert.ok(!afterList.environments.some((e) => e.id === id), `${id} still listed: ${JSON.stringify(afterList)}`);
    await assert.rejects(manage('brig/environment.info', { id: env.ids[STATE_ENV] }, EnvInfo),
                         (err) => err.code === -32602 && /no environment/.test(err.message));
});

test('workspace files: write, read, edit, snapshot, diff; an escape is refused', TE, async () => {
    const f = await connectClient({ 'brig/environment': 'e2e-files', 'brig/policy': 'default' });
    const ok = async (name, args) => {
        const r = await f.tool(name, args);
        assert.equal(r.isError, false, `${name}: ${describeResult(r)}`);
        return r.structuredContent;
    };
    assert.equal((await ok('write_file', { path: 'src/app.py', content: 'print("v1")\n' })).created, true);
    assert.equal((await ok('read_file', { path: 'src/app.py' })).content, 'print("v1")\n');
    const first = (await ok('snapshot', { message: 'v1' })).id;
    assert.match(first, /^[0-9a-f]{40}$/);
    const edit = await ok('edit_file', { path: 'src/app.py', edits: [{ old_text: 'v1', new_text: 'v2' }] });
    assert.match(edit.diff, /-print\("v1"\)\n\+print\("v2"\)/);
    // The jail sees what the file tools wrote.
    const run = await f.exec({ command: 'python3 /workspace/src/app.py' });
    assert.equal(run.structuredContent.stdout, 'v2\n', describeResult(run));
    const diff = await ok('diff', {});
    assert.match(diff.diff, /\+print\("v2"\)/);
    assert.deepEqual(diff.files.map((x) => x.path), ['src/app.py']);
    await ok('restore', { snapshot: first });
    assert.equal((await ok('read_file', { path: 'src/app.py' })).content, 'print("v1")\n');

    const escape = await f.tool('read_file', { path: '../../../etc/passwd' });
    assert.equal(escape.isError, true, describeResult(escape));
    assert.match(escape.content[0].text, /escapes the workspace/);
    await f.close();
});

test('memory: what an agent in one environment writes, an agent in another of the same owner reads', TE, async () => {
    const a = await connectClient({ 'brig/environment': 'e2e-mem-a', 'brig/policy': 'default' });
    const b = await connectClient({ 'brig/environment': 'e2e-mem-b', 'brig/policy': 'default' });
    const ok = async (h, name, args) => {
        const r = await h.tool(name, args);
        assert.equal(r.isError, false, `${name}: ${describeResult(r)}`);
        return r.structuredContent;
    };
    // As a client forwarding a model's memory tool calls would: list the tools first, then call them.
    for (const h of [a, b]) {
        const { tools } = await h.race(h.client.listTools());
        for (const name of ['memory', 'memory_history'])
            assert.ok(tools.some((t) => t.name === name), `${name} not listed: ${tools.map((t) => t.name)}`);
    }
    const path = `/memories/e2e/${MARKER}.md`;
    const made = await ok(a, 'memory', { command: 'create', path, file_text: 'build with ninja -C build\n' });
    assert.match(made.version, /^[0-9a-f]{40}$/, JSON.stringify(made));
    const seen = await ok(b, 'memory', { command: 'view', path });
    assert.match(seen.result, /build with ninja -C build/, JSON.stringify(seen));
    await ok(b, 'memory', { command: 'str_replace', path, old_str: 'ninja', new_str: 'ninja -j2' });
    const hist = await ok(a, 'memory_history', { path });
    assert.deepEqual(hist.versions.map((v) => [v.environment, v.command]),
                     [[b.initMeta['brig/environment'], 'str_replace'], [a.initMeta['brig/environment'], 'create']],
                     JSON.stringify(hist));
    await a.close();
    await b.close();
});

test('no line from brigd was rejected by the SDK, and no async client errors', T, () => {
    const rejected = allTransports.flatMap((tr) => tr.rejected);
    assert.deepEqual(rejected.map((r) => `line: ${r.line}\n  reason: ${r.error.message}`), []);
    assert.deepEqual(asyncErrors.map(String), []);
});
