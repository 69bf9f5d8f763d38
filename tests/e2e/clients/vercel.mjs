// brig through the Vercel AI SDK's MCP client (@ai-sdk/mcp): createMCPClient over its stdio transport
// running `brig mcp`, and the tools client.tools() builds, called as generateText's tool loop calls them:
// tool.execute(args, {toolCallId, messages}), then tool.toModelOutput() for what the model gets.
// See common.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { createMCPClient } from '@ai-sdk/mcp';
import { Experimental_StdioMCPTransport } from '@ai-sdk/mcp/mcp-stdio';
import { asSchema } from 'ai';

import { assertSameToolNames, brigCommand, contentText, declaredTools, scenario, T } from './common.mjs';

let client;
let declared;
let tools; // name -> AI SDK tool

before(async () => {
    client = await createMCPClient({ transport: new Experimental_StdioMCPTransport(brigCommand()) });
    declared = await declaredTools();
    tools = await client.tools();
});

after(async () => {
    await client?.close();
});

test('vercel: every tool has the input schema brig declared', T, async () => {
    assertSameToolNames(declared, Object.keys(tools), 'the AI SDK');
    for (const d of declared) {
        const t = tools[d.name];
        assert.equal(t.type, 'dynamic', d.name);
        assert.equal(t.description, d.description, d.name);
        assert.equal(t.title, d.title, d.name);
        assert.deepEqual(t.metadata?.annotations, d.annotations, `${d.name}: annotations changed`);
        // What the AI SDK sends to a provider as the tool's parameters.
        assert.deepEqual(await asSchema(t.inputSchema).jsonSchema, d.inputSchema, `${d.name}: input schema changed`);
    }
});

let callCount = 0;

scenario({
    name: 'vercel',
    async call(name, args) {
        const t = tools[name];
        assert.ok(t, `no tool ${name}`);
        const toolCallId = `call-${++callCount}`;
        const output = await t.execute(args, { toolCallId, messages: [] });
        assert.ok(Array.isArray(output.content), `${name}: no content in ${JSON.stringify(output)}`);
        const modelOutput = await t.toModelOutput({ toolCallId, input: args, output });
        assert.equal(modelOutput.type, 'content', JSON.stringify(modelOutput));
        return { text: contentText(modelOutput.value), isError: output.isError === true };
    },
});
