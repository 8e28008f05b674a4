#!/usr/bin/env node
import "../src/tribalmemory-mcp.ts";
