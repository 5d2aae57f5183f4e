-- Argo CD health check for tributary.dev/StreamingJob.
-- Healthy: Ready=True for the current generation. Degraded: phase Failed, or
-- Degraded=True. Suspended: suspended on purpose. Otherwise Progressing,
-- with the operator's message.
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil then
  return hs
end
local st = obj.status
if st.message ~= nil then
  hs.message = st.message
end
if st.observedGeneration == nil or obj.metadata.generation == nil or st.observedGeneration < obj.metadata.generation then
  hs.message = "the operator has not yet observed the newest spec"
  return hs
end
local conditions = {}
if st.conditions ~= nil then
  for _, c in ipairs(st.conditions) do
    conditions[c.type] = c
  end
end
if st.phase == "Failed" or (conditions.Degraded ~= nil and conditions.Degraded.status == "True") then
  hs.status = "Degraded"
  if conditions.Degraded ~= nil and conditions.Degraded.message ~= nil and conditions.Degraded.message ~= "" then
    hs.message = conditions.Degraded.message
  end
  return hs
end
if st.phase == "Suspended" then
  hs.status = "Suspended"
  return hs
end
if st.phase == "Completed" then
  hs.status = "Healthy"
  return hs
end
if conditions.Ready ~= nil and conditions.Ready.status == "True" then
  hs.status = "Healthy"
  return hs
end
return hs
