/** Runs `stop` once, however often it is asked for; `done` resolves with its result. */
export function stopOnce<T>(stop: (fatal?: string) => Promise<T>): { run: (fatal?: string) => Promise<T>; done: Promise<T> } {
  let running: Promise<T> | null = null;
  let settle: (v: T) => void = () => {};
  const done = new Promise<T>((r) => (settle = r));
  return {
    run: (fatal) => {
      running ??= stop(fatal).then((v) => {
        settle(v);
        return v;
      });
      return running;
    },
    done,
  };
}
