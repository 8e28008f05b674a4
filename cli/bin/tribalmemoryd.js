#!/usr/bin/env node
import "../src/tribalmemoryd.ts";
