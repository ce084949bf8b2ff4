import { describe, expect, it } from 'vitest';
import {
  defaultInlineInputPath,
  failureLocation,
  formatS3Uri,
  inlineInputLocation,
  joinS3,
  outputLocation,
  parseS3Uri,
} from '../../src/emulator/locations.js';

describe('locations', () => {
  it('parses and formats s3:// URIs', () => {
    expect(parseS3Uri('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', key: 'a/b' });
    expect(parseS3Uri('s3://bucket')).toEqual({ bucket: 'bucket', key: '' });
    expect(parseS3Uri('https://bucket/a')).toBeUndefined();
    expect(parseS3Uri('s3:///key')).toBeUndefined();
    expect(formatS3Uri({ bucket: 'b', key: 'k/x' })).toBe('s3://b/k/x');
    expect(formatS3Uri({ bucket: 'b', key: '' })).toBe('s3://b');
  });

  it('joins without doubled slashes and skips empty segments', () => {
    expect(joinS3('s3://b/out/', '/ext/', undefined, '', 'name')).toBe('s3://b/out/ext/name');
  });

  it('names outputs <S3OutputPath>/[<ext>/]<Filename or uuid.out>', () => {
    expect(outputLocation('s3://b/out', 'u1', {})).toBe('s3://b/out/u1.out');
    expect(outputLocation('s3://b/out/', 'u1', { s3OutputPathExtension: 'x/y' })).toBe(
      's3://b/out/x/y/u1.out',
    );
    expect(outputLocation('s3://b/out', 'u1', { filename: 'r.json', s3OutputPathExtension: 'x' })).toBe(
      's3://b/out/x/r.json',
    );
  });

  it('names failure objects <S3FailurePath>/[<ext>/]<uuid>-error.out, whatever the Filename', () => {
    expect(failureLocation('s3://b/fail', 'u1', {})).toBe('s3://b/fail/u1-error.out');
    expect(failureLocation('s3://b/fail', 'u1', { s3OutputPathExtension: 'x' })).toBe(
      's3://b/fail/x/u1-error.out',
    );
  });

  it('stores inline bodies in async-inputs beside the output prefix', () => {
    expect(defaultInlineInputPath('s3://b/a/out')).toBe('s3://b/a/async-inputs');
    expect(defaultInlineInputPath('s3://b/out')).toBe('s3://b/async-inputs');
    expect(defaultInlineInputPath('s3://b')).toBe('s3://b/async-inputs');
    expect(inlineInputLocation('s3://b/async-inputs', 'u1')).toBe('s3://b/async-inputs/u1');
  });
});
