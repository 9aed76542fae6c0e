/* placeholder: replaced by the checkpoint implementation */
#include "blasnet.h"
#include "error.h"
int bn_checkpoint_save(const bn_net *net, const bn_train_state *state, const char *path)
{
    (void)net; (void)state;
    return bn_fail(BN_E_IO, "checkpoints are not implemented yet ('%s')", path);
}
int bn_checkpoint_load(bn_net **net, bn_train_state *state, const char *path, int max_batch, const bn_backend *backend)
{
    (void)net; (void)state; (void)max_batch; (void)backend;
    return bn_fail(BN_E_IO, "checkpoints are not implemented yet ('%s')", path);
}
