-- fusebox: one GCRA token bucket per key, the core's law (fusebox::rate) in
-- exact integers on Redis. Loaded once per server (SCRIPT LOAD), called by
-- SHA (EVALSHA); see limiter.rs for the law, the units and the ranges.
--
-- KEYS[1]  the bucket: a hash { t = latest instant seen (us),
--                               o = TAT - t x r (units of 1/r us, 0..b x P) }
-- ARGV     r, P, b (the quota in lowest terms, P in us), n (tokens asked),
--          idle_ms (how long a full bucket's key is kept), [now_us] (tests)
-- Returns  { admitted (1 or 0), retry_after_us (-1: never), tokens left,
--            the instant judged (us) }
--
-- Every value stays an integer below 2^53 (Lua numbers are doubles):
-- b x P <= 2^52, so offsets, costs and their sums are exact; now < 2^53.
local TWO52 = 4503599627370496
local TWO53 = 9007199254740992

local function int(v, lo, hi)
  local x = tonumber(v)
  if x == nil or x ~= math.floor(x) or x < lo or x > hi then
    return nil
  end
  return x
end

-- Integer division of a >= 0 by d >= 1, exact for a <= 2^52: the float
-- quotient is off by at most one, and the corrections are exact products.
local function floor_div(a, d)
  local q = math.floor(a / d)
  while q > 0 and q * d > a do q = q - 1 end
  while (q + 1) * d <= a do q = q + 1 end
  return q
end

local function ceil_div(a, d)
  local q = floor_div(a, d)
  if q * d < a then q = q + 1 end
  return q
end

-- Integers as digits: tostring would print 1.7e+15 (14 significant digits).
local function digits(x)
  return string.format('%.0f', x)
end

local r = int(ARGV[1], 1, 4294967295)
local p = int(ARGV[2], 1, TWO52)
local b = int(ARGV[3], 1, 4294967295)
local n = int(ARGV[4], 0, 4294967295)
local idle = int(ARGV[5], 1, TWO52)
if r == nil or p == nil or b == nil or n == nil or idle == nil then
  return redis.error_reply('ERR fusebox gcra: rate, period, burst, n and idle_ms must be integers in range')
end
local cap = b * p
if cap > TWO52 then
  return redis.error_reply('ERR fusebox gcra: burst x period (in us, lowest terms) must be at most 2^52')
end

local now
if ARGV[6] ~= nil and ARGV[6] ~= '' then
  now = int(ARGV[6], 0, TWO53 - 1)
  if now == nil then
    return redis.error_reply('ERR fusebox gcra: now must be an integer in 0..2^53 (us)')
  end
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local state = redis.call('HMGET', KEYS[1], 't', 'o')
local latest = int(state[1], 0, TWO53 - 1)
local off = int(state[2], 0, TWO52)
if latest == nil or off == nil then
  -- A new (or expired, or unreadable) key: a full bucket.
  latest = now
  off = 0
end
-- Time that goes backwards counts as no time elapsed: judge at the latest
-- instant seen. The stored state never holds less than before.
if now < latest then
  now = latest
end

-- Refill: the TAT's offset from now. `used` may round when it is above
-- 2^53, but then it is above `off` too, and the answer (0) is the same.
local used = (now - latest) * r
if used >= off then
  off = 0
else
  off = off - used
end

local admitted = 1
local retry = 0
if n > b then
  admitted = 0
  retry = -1
elseif n > 0 then
  local nxt = off + n * p
  if nxt <= cap then
    off = nxt
  else
    admitted = 0
    retry = ceil_div(nxt - cap, r)
  end
end

redis.call('HSET', KEYS[1], 't', digits(now), 'o', digits(off))
-- Kept until the bucket is full again, then idle_ms more (so a clock that
-- steps back within that window is still judged at the latest instant).
redis.call('PEXPIRE', KEYS[1], digits(ceil_div(ceil_div(off, r), 1000) + idle))
return { admitted, retry, floor_div(cap - off, p), now }
