#!/usr/bin/env node
import "../src/tribalmemory.ts";
