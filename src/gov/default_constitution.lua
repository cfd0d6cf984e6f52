-- The default constitution of a consort service.
--
-- A proposal passes when a strict majority of the active members vote for
-- it, and fails as soon as that can no longer happen. docs/governance.md,
-- "The constitution", describes the functions, their arguments and the
-- sandbox this script runs in. This file is compiled into consort
-- (src/gov/default_constitution.cmake); a consortium replaces it with the
-- set_constitution action.

-- The actions a proposal may name; the node implements each of them.
local KNOWN_ACTIONS = {
  set_member = true,
  remove_member = true,
  set_user = true,
  remove_user = true,
  add_code_id = true,
  set_code_certificate_policy = true,
  retire_code_id = true,
  set_update_policy = true,
  transition_node_to_trusted = true,
  remove_node = true,
  set_recovery_threshold = true,
  set_constitution = true,
  transition_service_to_open = true,
  set_gov_request_window = true,
  set_egress_service = true,
  remove_egress_service = true,
}

local function is_array(v)
  return type(v) == "table" and getmetatable(v) == "json_array"
end

local function is_object(v)
  return type(v) == "table" and getmetatable(v) ~= "json_array"
end

-- validate(proposal): true, or false and the reason.
function validate(proposal)
  local list = proposal.actions
  if not is_array(list) or #list == 0 then
    return false, "proposal: \"actions\" must be a non-empty array"
  end
  for i, action in ipairs(list) do
    if not is_object(action) then
      return false, string.format("action %d: not an object", i)
    end
    if type(action.name) ~= "string" then
      return false, string.format("action %d: \"name\" must be a string", i)
    end
    if not KNOWN_ACTIONS[action.name] then
      return false, string.format("action %d: unknown action \"%s\"", i, action.name)
    end
    if not is_object(action.args) then
      return false, string.format("action %d (%s): \"args\" must be an object", i, action.name)
    end
  end
  return true
end

-- resolve(proposal, proposer_id, votes, members): "Open", "Accepted" or
-- "Rejected". Only the ballots of current members count, each member once
-- (the first ballot); ballots from anyone else are ignored.
function resolve(proposal, proposer_id, votes, members)
  local is_member, n = {}, 0
  for _, id in ipairs(members) do
    if not is_member[id] then
      is_member[id] = true
      n = n + 1
    end
  end
  local counted, approve, reject = {}, 0, 0
  for _, ballot in ipairs(votes) do
    local id = ballot.member_id
    if is_member[id] and not counted[id] then
      counted[id] = true
      if ballot.vote == true then
        approve = approve + 1
      elseif ballot.vote == false then
        reject = reject + 1
      end
    end
  end
  if 2 * approve > n then
    return "Accepted"
  end
  -- With reject >= n/2, at most n/2 members are left to vote for: a strict
  -- majority for is impossible (this includes a strict majority against).
  if 2 * reject >= n then
    return "Rejected"
  end
  return "Open"
end

-- admit_node(node): a node whose attested code id is trusted joins as
-- Trusted at once (node = {node_id = ..., code_id = ...}). Return false to
-- make every new node wait, Pending, for a transition_node_to_trusted
-- proposal.
function admit_node(node)
  return true
end

-- apply(proposal, proposal_id): runs each action, in order, through the
-- host's actions table. An error from any action aborts the proposal.
function apply(proposal, proposal_id)
  for i, action in ipairs(proposal.actions) do
    local host = actions[action.name]
    if host == nil then
      error(string.format("action %d: the node does not implement \"%s\"", i, action.name), 0)
    end
    host(action.args)
  end
end
