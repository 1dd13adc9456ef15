package metadata

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// Changing the controller quorum (KIP-853's AddRaftVoter and
// RemoveRaftVoter) with raft's own membership changes, one at a time,
// committed through the log like any entry. A new controller is started
// first (process.roles=controller, its controller.quorum.voters naming
// itself, an empty metadata dir: it does not bootstrap, it waits), then
// added; it catches up from the leader and votes from then on.

// AddVoter makes node id, reachable for raft at addr (its CONTROLLER
// listener), a voter.
func (n *Node) AddVoter(ctx context.Context, id int32, addr string) error {
	if !n.IsController() {
		return n.notController()
	}
	if id < 0 || addr == "" {
		return fmt.Errorf("%w: voter %d at %q", ErrInvalidRequest, id, addr)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftError(err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == serverID(id) && s.Suffrage == raft.Voter {
			return fmt.Errorf("%w: node %d is already a voter", ErrDuplicateVoter, id)
		}
	}
	if err := n.wait(ctx, n.raft.AddVoter(serverID(id), raft.ServerAddress(addr), 0, applyTimeout(ctx))); err != nil {
		return fmt.Errorf("adding voter %d: %w", id, err)
	}
	n.log.Info("metadata quorum: voter added", "voter", id, "addr", addr)
	return nil
}

// RemoveVoter takes node id out of the quorum.
func (n *Node) RemoveVoter(ctx context.Context, id int32) error {
	if !n.IsController() {
		return n.notController()
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raftError(err)
	}
	found, voters := false, 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			if s.ID == serverID(id) {
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: node %d is not a voter", ErrVoterNotFound, id)
	}
	if voters == 1 {
		return fmt.Errorf("%w: node %d is the last voter", ErrInvalidRequest, id)
	}
	if err := n.wait(ctx, n.raft.RemoveServer(serverID(id), 0, applyTimeout(ctx))); err != nil {
		return fmt.Errorf("removing voter %d: %w", id, err)
	}
	n.log.Info("metadata quorum: voter removed", "voter", id)
	return nil
}
