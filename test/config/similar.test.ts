// The name a configuration most likely meant (pipeline/similar.ts): config keys and check tools.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closestName } from '../../src/config/similar.js';
import { toolNotFound } from '../../src/probe/checks.js';

const FS_TOOLS = ['read_file', 'read_text_file', 'read_media_file', 'read_multiple_files', 'write_file', 'edit_file', 'create_directory', 'list_directory', 'list_directory_with_sizes', 'directory_tree', 'move_file', 'search_files', 'get_file_info', 'list_allowed_directories'];

describe('closest name', () => {
  it('finds a typo, another separator or case, and nothing for a name unlike any', () => {
    assert.equal(closestName('list_directroy', FS_TOOLS), 'list_directory');
    assert.equal(closestName('search-files', FS_TOOLS), 'search_files');
    assert.equal(closestName('Get-File-Info', FS_TOOLS), 'get_file_info');
    assert.equal(closestName('read_multiple_file', FS_TOOLS), 'read_multiple_files');
    assert.equal(closestName('query', FS_TOOLS), undefined);
    assert.equal(closestName('x', []), undefined);
  });
});

describe('a check\'s missing tool', () => {
  it('names the tool it most likely meant, even when the list is cut, and cuts the list at whole names', () => {
    assert.equal(
      toolNotFound('list_allowed_directory', FS_TOOLS),
      'tool "list_allowed_directory" is not in the server\'s tools/list: did you mean "list_allowed_directories"? (14 tools: read_file, read_text_file, read_media_file, read_multiple_files, write_file, edit_file, create_directory, list_directory, list_directory_with_sizes, directory_tree, move_file, search_files and 2 more)',
    );
    assert.equal(toolNotFound('query', []), 'tool "query" is not in the server\'s tools/list (no tools)');
    assert.equal(toolNotFound('query', ['echo']), 'tool "query" is not in the server\'s tools/list (1 tool: echo)');
  });

  it('says that a sampling, elicitation or roots tool may be listed only to clients declaring them (server-everything)', () => {
    const hint = '; a server may list such a tool only to clients that declare sampling, elicitation or roots, which mcpwatch does not)';
    for (const tool of ['trigger-sampling-request', 'trigger-elicitation-request', 'get-roots-list']) {
      assert.equal(toolNotFound(tool, ['echo', 'get-sum']), `tool "${tool}" is not in the server's tools/list (2 tools: echo, get-sum${hint}`);
    }
    assert.ok(!toolNotFound('rootstock', ['echo']).includes('declare'));
  });
});
