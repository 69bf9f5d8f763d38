// Shared part of the framework end-to-end tests (openai.mjs, vercel.mjs, langchain.mjs, inspector.mjs).
//
// Each test starts `brig mcp --socket SOCKET` (the real cli from the build directory) the way its framework
// starts any stdio MCP server, and runs the same scenario through the framework's own tool objects: the
// functions an agent loop calls with the model's arguments and whose text it hands back to the model. No
// model and no network are involved.
//
// Usage: node CLIENT.mjs SOCKET BUILD_DIR   (run.sh passes both)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

export const socketPath = process.argv[2];
export const buildDir = process.argv[3];
if (!socketPath || !buildDir) {
    console.error(`usage: node ${process.argv[1]} SOCKET BUILD_DIR`);
    process.exit(2);
}

/** Per test; the first call starts the environment's jail. */
export const T = { timeout: 60_000 };

/**
 * The stdio server command every framework is given. `environment` names a persistent environment, for
 * clients that open one session per call (the Inspector CLI) and must still find their process.
 */
export function brigCommand({ environment } = {}) {
    const args = ['mcp', '--socket', socketPath];
    if (environment)
        args.push('--environment', environment);
    return { command: `${buildDir}/brig`, args };
}

/** The tools brig declares, as tools/list returns them (fetched with the official SDK over `brig mcp`). */
export async function declaredTools() {
    const client = new Client({ name: 'brig-e2e-declared', version: '0.0.0' });
    await client.connect(new StdioClientTransport({ ...brigCommand(), stderr: 'inherit' }));
    try {
        const { tools } = await client.listTools();
        assert.ok(tools.length > 0, 'brig declared no tools');
        // What the checks below compare each framework's tools with; brig declares all of it for every tool.
        for (const t of tools) {
            assert.equal(typeof t.title, 'string', `${t.name} has no title`);
            assert.equal(typeof t.annotations, 'object', `${t.name} has no annotations`);
            assert.equal(t.inputSchema?.type, 'object', `${t.name} has no object inputSchema`);
            assert.equal(t.outputSchema?.type, 'object', `${t.name} has no object outputSchema`);
        }
        return tools;
    } finally {
        await client.close();
    }
}

/** Every (sub)schema of `schema` that describes an object with properties, with its JSON pointer. */
export function objectSchemas(schema, at = '') {
    const found = [];
    if (!schema || typeof schema !== 'object')
        return found;
    if (schema.properties)
        found.push({ at: at || '/', schema });
    for (const [k, v] of Object.entries(schema)) {
        if (k === 'properties') {
            for (const [p, s] of Object.entries(v))
                found.push(...objectSchemas(s, `${at}/properties/${p}`));
        } else if (Array.isArray(v)) {
            v.forEach((s, i) => found.push(...objectSchemas(s, `${at}/${k}/${i}`)));
        } else if (typeof v === 'object') {
            found.push(...objectSchemas(v, `${at}/${k}`));
        }
    }
    return found;
}

/** Asserts the framework has a tool for each declared one (and no other). */
export function assertSameToolNames(declared, names, client) {
    assert.deepEqual([...names].sort(), declared.map((t) => t.name).sort(),
                     `${client} built a different set of tools than brig declared`);
}

/** Text of MCP content blocks as a model sees it. */
export function contentText(content) {
    if (typeof content === 'string')
        return content;
    if (Array.isArray(content))
        return content.map(contentText).join('\n');
    if (content && typeof content === 'object') {
        if (typeof content.text === 'string')
            return content.text;
        if (Array.isArray(content.content))
            return contentText(content.content);
    }
    assert.fail(`unexpected tool output shape: ${JSON.stringify(content)}`);
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The scenario every framework runs, as node:test tests in order. `client.call(name, args)` runs one
 * tool through the framework and returns {text, isError}: `text` is what the framework would give the
 * model, `isError` the framework's error flag (undefined when it has none: then only the text is checked).
 * A framework that throws, or rejects a result, fails the test with its own message.
 */
export function scenario(client) {
    const state = { processId: undefined };
    const call = async (name, args, { error = false } = {}) => {
        const r = await client.call(name, args);
        assert.equal(typeof r.text, 'string', `${name}: no text: ${JSON.stringify(r)}`);
        if (r.isError !== undefined)
            assert.equal(r.isError, error, `${name}: isError ${r.isError}, text: ${r.text}`);
        return r.text;
    };

    test(`${client.name}: exec in the foreground, with an env entry`, T, async () => {
        const text = await call('exec', {
            command: 'echo "$GREETING from $(pwd)"',
            env: [{ name: 'GREETING', value: 'hello' }],
        });
        assert.match(text, /^hello from \/workspace\n/, text);
        assert.match(text, /exit code 0/, text);
    });

    test(`${client.name}: exec in the background; the model reads the process_id from the text`, T, async () => {
        const text = await call('exec', { command: 'echo bg-start; sleep 0.3; echo bg-end', background: true });
        const m = text.match(/Started background process (\S+):/);
        assert.ok(m, `no process id in: ${text}`);
        state.processId = m[1];
        assert.ok(text.includes(`process_output {"process_id": "${state.processId}"}`), text);
    });

    test(`${client.name}: process_output reads the background process to its end`, T, async () => {
        assert.ok(state.processId, 'no process id (see the previous test)');
        let text;
        const deadline = Date.now() + 20_000;
        for (;;) {
            text = await call('process_output', { process_id: state.processId });
            if (!/: running/.test(text))
                break;
            assert.ok(Date.now() < deadline, `still running after 20 s: ${text}`);
            await sleep(100);
        }
        assert.match(text, /^bg-start\nbg-end\n/, text);
        assert.match(text, /exited with code 0/, text);
    });

    test(`${client.name}: write_file, then read_file returns the content`, T, async () => {
        assert.match(await call('write_file', { path: 'notes/a.txt', content: 'x = 1\nx = 1\n' }),
                     /wrote 12 bytes to 'notes\/a\.txt'/);
        assert.match(await call('read_file', { path: 'notes/a.txt' }), /^x = 1\nx = 1\n/);
    });

    test(`${client.name}: edit_file with an ambiguous match is an error result naming the problem`, T, async () => {
        const text = await call('edit_file', { path: 'notes/a.txt', edits: [{ old_text: 'x = 1', new_text: 'y' }] },
                                { error: true });
        assert.match(text, /edits\[0\]/, text);
        assert.match(text, /old_text matches 2 times/, text);
        assert.match(text, /replace_all/, text);
        // Nothing was written.
        assert.match(await call('read_file', { path: 'notes/a.txt' }), /^x = 1\nx = 1\n/);
    });

    test(`${client.name}: repl keeps python state between calls`, T, async () => {
        assert.match(await call('repl', { language: 'python', code: 'a = 6 * 7\nprint(a)' }), /^42\n/);
        assert.match(await call('repl', { language: 'python', code: 'a + 1' }), /^43\n/);
    });

    test(`${client.name}: a wrong argument is an error result whose text names the field`, T, async () => {
        const text = await call('exec', { command: 'pwd', cwd: '../etc' }, { error: true });
        assert.match(text, /arguments\.cwd/, text);
        assert.match(text, /\.\.\/etc/, text);
        assert.match(text, /correct the arguments/, text);
    });
}
