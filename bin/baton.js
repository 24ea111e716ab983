#!/usr/bin/env node
// The `baton` command: the compiled CLI lives in dist/ (npm run build).
import '../dist/cli/main.js';
