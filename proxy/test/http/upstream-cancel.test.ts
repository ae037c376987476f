import { UpstreamCancel } from '../../src/http/upstream-cancel';

describe('UpstreamCancel', () => {
  test('aborts once: the first reason stays, and listeners hear one abort', () => {
    const cancel = new UpstreamCancel();
    let heard = 0;
    cancel.once('abort', () => heard++);
    cancel.on('abort', () => heard++);
    expect(cancel.aborted).toBe(false);
    cancel.abort(new Error('client went away'));
    cancel.abort(new Error('a second reason'));
    expect(cancel.aborted).toBe(true);
    expect((cancel.reason as Error).message).toBe('client went away');
    expect(heard).toBe(2);
  });

  test('the AbortSignal it hands out follows it, with its reason', () => {
    const cancel = new UpstreamCancel();
    const signal = cancel.toAbortSignal();
    expect(signal.aborted).toBe(false);
    const reason = new Error('timeout');
    cancel.abort(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
  });

  test('one asked for after the abort is aborted already', () => {
    const cancel = new UpstreamCancel();
    cancel.abort('gone');
    const signal = cancel.toAbortSignal();
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('gone');
  });
});
