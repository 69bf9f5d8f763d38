// brig through the OpenAI Agents SDK: MCPServerStdio running `brig mcp`, an Agent with
// mcpConfig.convertSchemasToStrict, and the function tools agent.getAllTools() builds (what the runner
// sends to the model and invokes with the model's arguments). See common.mjs.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Agent, MCPServerStdio, RunContext } from '@openai/agents';

import { assertSameToolNames, brigCommand, contentText, declaredTools, objectSchemas, scenario, T } from './common.mjs';

const server = new MCPServerStdio({ name: 'brig', ...brigCommand(), cacheToolsList: true });
const agent = new Agent({ name: 'brig-e2e', mcpServers: [server], mcpConfig: { convertSchemasToStrict: true } });
const runContext = new RunContext();
let declared;
let tools; // name -> FunctionTool

before(async () => {
    await server.connect();
    declared = await declaredTools();
    tools = new Map((await agent.getAllTools(runContext)).map((t) => [t.name, t]));
});

after(async () => {
    await server.close();
});

test('openai: every tool converts to strict mode, keeping every declared property', T, () => {
    assertSameToolNames(declared, tools.keys(), 'the OpenAI Agents SDK');
    for (const d of declared) {
        const t = tools.get(d.name);
        assert.equal(t.type, 'function', d.name);
        assert.equal(t.strict, true, `${d.name} fell back to non-strict mode`);
        assert.equal(t.description, d.description, d.name);
        assert.deepEqual(Object.keys(t.parameters.properties).sort(), Object.keys(d.inputSchema.properties).sort(),
                         `${d.name}: the strict schema's properties differ from the declared ones`);
        // OpenAI's strict mode: every object closed, every property required (optional ones nullable).
        for (const { at, schema } of objectSchemas(t.parameters)) {
            assert.equal(schema.additionalProperties, false, `${d.name} ${at}: not closed`);
            assert.deepEqual([...(schema.required ?? [])].sort(), Object.keys(schema.properties).sort(),
                             `${d.name} ${at}: not every property is required`);
        }
    }
});

/** The variant of a strict (possibly nullable) schema that describes `value`. */
function variantFor(schema, value) {
    const variants = schema.anyOf ?? [schema];
    const kind = Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : undefined;
    return variants.find((v) => v.type === kind || (Array.isArray(v.type) && v.type.includes(kind))) ?? schema;
}

/**
 * `args` as a strict-mode model sends them: every property present, null for the ones it leaves out.
 * (0.20.0 drops the nulls before calling the server; brig accepts them either way.)
 */
function strictArgs(schema, value) {
    const s = variantFor(schema, value);
    if (Array.isArray(value))
        return value.map((v) => strictArgs(s.items, v));
    if (value === null || typeof value !== 'object' || !s.properties)
        return value;
    return Object.fromEntries(Object.entries(s.properties).map(([k, p]) => [k, k in value ? strictArgs(p, value[k]) : null]));
}

scenario({
    name: 'openai',
    async call(name, args) {
        const t = tools.get(name);
        assert.ok(t, `no tool ${name}`);
        const input = JSON.stringify(strictArgs(t.parameters, args));
        const output = await t.invoke(runContext, input, { toolCall: { type: 'function_call', callId: `call-${name}`, name, arguments: input } });
        const text = contentText(output);
        // The SDK's errorFunction replaces a thrown error (a JSON-RPC error, a rejected result) with this.
        assert.doesNotMatch(text, /An error occurred while running the tool/, text);
        return { text, isError: undefined };
    },
});
