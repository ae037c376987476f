import { objectPutTarget } from './mirror-hop-server';

describe('the mirroring reference hop mirrors object PUTs only', () => {
  it('takes the bucket and the decoded key of a PUT to /bucket/key', () => {
    expect(objectPutTarget('PUT', '/bench/c16-r0-7')).toEqual({ bucket: 'bench', key: 'c16-r0-7' });
    expect(objectPutTarget('PUT', '/b/a%20dir/x%2By')).toEqual({ bucket: 'b', key: 'a dir/x+y' });
  });

  it('leaves other requests to the pass-through: other methods, bucket requests, sub-resources', () => {
    expect(objectPutTarget('GET', '/bench/k')).toBeUndefined();
    expect(objectPutTarget('PUT', '/bench')).toBeUndefined();
    expect(objectPutTarget('PUT', '/bench/')).toBeUndefined();
    expect(objectPutTarget('PUT', '/bench/k?partNumber=1&uploadId=u')).toBeUndefined();
    expect(objectPutTarget('PUT', undefined)).toBeUndefined();
  });
});
