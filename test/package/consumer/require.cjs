// CommonJS consumers: require(esm), Node >= 20.19.
const { GenServer } = require('spindle');
const { VirtualClock } = require('spindle/testing');

GenServer.start({ init: () => 1, handleCall: (_m, s) => [s, s] }).then(async (ref) => {
  const n = await GenServer.call(ref, 'get');
  await GenServer.stop(ref);
  console.log(`RESULT ${JSON.stringify({ call: n, testing: typeof VirtualClock })}`);
});
