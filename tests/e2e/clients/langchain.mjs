// brig through LangChain: @langchain/mcp-adapters' MultiServerMCPClient running `brig mcp` over stdio, its
// tools run by LangGraph's ToolNode (the tool step of createReactAgent and of hand-built graphs), which
// turns each tool call into the ToolMessage the model gets. See common.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { AIMessage } from '@langchain/core/messages';
import { convertToOpenAITool } from '@langchain/core/utils/function_calling';
import { ToolNode } from '@langchain/langgraph/prebuilt';
import { MultiServerMCPClient } from '@langchain/mcp-adapters';

import { assertSameToolNames, brigCommand, contentText, declaredTools, scenario, T } from './common.mjs';

const client = new MultiServerMCPClient({
    mcpServers: { brig: { transport: 'stdio', ...brigCommand(), stderr: 'inherit' } },
    throwOnLoadError: true,
});
let declared;
let tools; // name -> StructuredTool
let toolNode;

before(async () => {
    declared = await declaredTools();
    const list = await client.getTools();
    tools = new Map(list.map((t) => [t.name, t]));
    toolNode = new ToolNode(list);
});

after(async () => {
    await client.close();
});

test('langchain: every tool has the input schema brig declared', T, () => {
    assertSameToolNames(declared, tools.keys(), 'the LangChain MCP adapters');
    for (const d of declared) {
        const t = tools.get(d.name);
        assert.equal(t.description, d.description, d.name);
        assert.deepEqual(t.metadata?.annotations, d.annotations, `${d.name}: annotations changed`);
        assert.deepEqual(t.schema, d.inputSchema, `${d.name}: input schema changed`);
        // What a chat model binding sends to the provider.
        assert.deepEqual(convertToOpenAITool(t).function.parameters, d.inputSchema,
                         `${d.name}: provider parameters differ from the declared input schema`);
    }
});

let callCount = 0;

/**
 * The text in a ToolMessage's content. When a result has structuredContent, the adapters (1.1.4) return
 * its text block with the structuredContent added, and ToolNode serializes that block as JSON: the model
 * gets {"type":"text","text":...,"structuredContent":...}. Decoded here so the checks read brig's text.
 */
function modelText(content) {
    if (typeof content === 'string' && content.startsWith('{"type":"text"')) {
        const block = JSON.parse(content);
        assert.equal(typeof block.text, 'string', content);
        return block.text;
    }
    return contentText(content);
}

scenario({
    name: 'langchain',
    async call(name, args) {
        assert.ok(tools.has(name), `no tool ${name}`);
        const id = `call-${++callCount}`;
        const { messages } = await toolNode.invoke({
            messages: [new AIMessage({ content: '', tool_calls: [{ name, args, id, type: 'tool_call' }] })],
        });
        assert.equal(messages.length, 1, JSON.stringify(messages));
        const m = messages[0];
        assert.equal(m.tool_call_id, id);
        const text = modelText(m.content);
        if (m.status === 'error') {
            // An isError result reaches the model through the adapters' ToolException with brig's text;
            // anything else here (a JSON-RPC error, a rejected result) is a failure.
            assert.match(text, new RegExp(`^Error: MCP tool '${name}' on server 'brig' returned an error: `), text);
        }
        return { text: text.replace(/^Error: MCP tool '[^']+' on server 'brig' returned an error: /, ''), isError: m.status === 'error' };
    },
});
