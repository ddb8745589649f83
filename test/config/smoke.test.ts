import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration } from '../../src/config/schema.js';
test('durations', () => { assert.equal(parseDuration('500ms'), 500); });
