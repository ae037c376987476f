export * from './checksums';
export * from './content-sha256';
export * from './decoder';
export { AwsChunkedParser } from './parser';
