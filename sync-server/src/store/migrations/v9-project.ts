/**
 * Migration 9: project scopes (`project` on remember, from the MCP client's roots).
 *
 * - `memories.project`: the memory's project (`github.com/acme/api`, or a folder name), NULL
 *   for none; recall's `scope: "project"` and project-first ranking filter on it (pg-filters.ts,
 *   shared/src/service/project-scope.ts). The partial index serves that filter per workspace.
 */
export const V9_PROJECT = `
ALTER TABLE memories ADD COLUMN IF NOT EXISTS project text;
CREATE INDEX IF NOT EXISTS memories_project ON memories (workspace_id, project) WHERE project IS NOT NULL;
`;
