// brig through the MCP Inspector CLI (`mcp-inspector --cli`), which starts `brig mcp` itself for each
// call; every call joins one persistent environment so a background process outlives the call that
// started it. See common.mjs.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';

import { brigCommand, contentText, declaredTools, scenario, T } from './common.mjs';

const inspector = fileURLToPath(new URL('../node_modules/.bin/mcp-inspector', import.meta.url));
const { command, args: brigArgs } = brigCommand({ environment: `e2e-inspector-${process.pid}` });

/** Runs the Inspector CLI; resolves {status, stdout, stderr} whatever its exit status. */
function runInspector(args) {
    return new Promise((resolve, reject) => {
        execFile(inspector, ['--cli', command, ...brigArgs, ...args], { timeout: 50_000, maxBuffer: 16 << 20 },
                 (err, stdout, stderr) => {
                     if (err && typeof err.code !== 'number')
                         reject(new Error(`mcp-inspector did not run: ${err.message}\n${stderr}`));
                     else
                         resolve({ status: err ? err.code : 0, stdout, stderr });
                 });
    });
}

/** The CLI's JSON output, or a failure quoting everything it printed. */
function parseOutput(r, what) {
    try {
        return JSON.parse(r.stdout);
    } catch {
        assert.fail(`${what}: mcp-inspector exited ${r.status} without JSON output\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
}

let declared;

before(async () => {
    declared = await declaredTools();
});

test('inspector: tools/list lists every tool as brig declared it', T, async () => {
    const r = await runInspector(['--method', 'tools/list']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(parseOutput(r, 'tools/list').tools, declared);
});

/** --tool-arg key=value: the CLI converts each value by the tool's input schema (JSON for arrays). */
function toolArgs(args) {
    return Object.entries(args).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
}

scenario({
    name: 'inspector',
    async call(name, args) {
        const r = await runInspector(['--method', 'tools/call', '--tool-name', name, '--tool-arg', ...toolArgs(args)]);
        const result = parseOutput(r, name);
        // The CLI exits 5 for an isError result (after printing it), 0 for a success; anything else is a
        // failure of the call itself.
        assert.equal(r.status, result.isError ? 5 : 0, `${name}: exit status ${r.status}\nstderr: ${r.stderr}`);
        if (result.isError)
            assert.match(r.stderr, /tool_is_error/, r.stderr);
        return { text: contentText(result.content), isError: result.isError === true };
    },
});
