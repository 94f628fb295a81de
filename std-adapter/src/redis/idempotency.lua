-- fusebox: one idempotency key on Redis, the core's dedup semantics
-- (fusebox::dedup) with a fencing token. See idempotency.rs.
--
-- KEYS[1]  the key: a hash { s = 'f' (in flight) or 'd' (done),
--                            g = the fencing token of the latest claim,
--                            e = when s ends (us), r = the stored response,
--                            t = the latest instant seen (us) }
-- ARGV[1]  'begin' | 'complete' | 'abandon'
-- ARGV[2]  now (us), or '' for Redis's TIME
-- ARGV[3]  grace_ms: how long the hash outlives its state (keeps g and t)
-- begin:    ARGV[4] in-flight TTL (us)
--           -> {0, token} new | {1} in flight | {2, token, response} done
-- complete: ARGV[4] token, ARGV[5] response, ARGV[6] done TTL (us) -> 1 | 0
-- abandon:  ARGV[4] token -> 1 | 0
local TWO53 = 9007199254740992

local function int(v, lo, hi)
  local x = tonumber(v)
  if x == nil or x ~= math.floor(x) or x < lo or x > hi then
    return nil
  end
  return x
end

local function digits(x)
  return string.format('%.0f', x)
end

local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = int(ARGV[2], 0, TWO53 - 1)
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local grace = int(ARGV[3], 1, TWO53 - 1)
if now == nil or grace == nil then
  return redis.error_reply('ERR fusebox idempotency: now and grace_ms must be integers below 2^53')
end

local h = redis.call('HMGET', KEYS[1], 's', 'g', 'e', 'r', 't')
local s, g, e, resp, latest = h[1], h[2], int(h[3], 0, TWO53), h[4], int(h[5], 0, TWO53)
-- Time that goes backwards counts as no time elapsed.
if latest ~= nil and now < latest then
  now = latest
end
local live = s ~= false and e ~= nil and now < e

local function keep(until_us)
  -- The hash lives grace_ms past its state's end, so that the next claim's
  -- token is still above this one's.
  local ms = math.floor((until_us - now) / 1000) + 1 + grace
  redis.call('PEXPIRE', KEYS[1], digits(ms))
end

if op == 'begin' then
  local ttl = int(ARGV[4], 1, TWO53 - 1)
  if ttl == nil or now + ttl >= TWO53 then
    return redis.error_reply('ERR fusebox idempotency: in-flight TTL out of range')
  end
  if live and s == 'd' then
    return { 2, tonumber(g), resp }
  end
  if live then
    return { 1 }
  end
  local prev = int(g, 0, TWO53)
  local token = now
  if prev ~= nil and token <= prev then
    token = prev + 1
  end
  redis.call('HDEL', KEYS[1], 'r')
  redis.call('HSET', KEYS[1], 's', 'f', 'g', digits(token), 'e', digits(now + ttl), 't', digits(now))
  keep(now + ttl)
  return { 0, token }
end

-- complete and abandon: only the live claim's holder changes anything.
if not live or s ~= 'f' or g ~= ARGV[4] then
  return 0
end
if op == 'complete' then
  local ttl = int(ARGV[6], 1, TWO53 - 1)
  if ttl == nil or now + ttl >= TWO53 then
    return redis.error_reply('ERR fusebox idempotency: done TTL out of range')
  end
  redis.call('HSET', KEYS[1], 's', 'd', 'e', digits(now + ttl), 'r', ARGV[5], 't', digits(now))
  keep(now + ttl)
  return 1
elseif op == 'abandon' then
  -- Ends the claim now; the token stays, so the next claim's is above it.
  redis.call('HSET', KEYS[1], 'e', digits(now), 't', digits(now))
  keep(now)
  return 1
end
return redis.error_reply('ERR fusebox idempotency: unknown operation')
