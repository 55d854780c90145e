using Diffusion.Core;
using TorchSharp;
using static Diffusion.Models.Tests.TestModels;
using static TorchSharp.torch;

namespace Diffusion.Models.Tests;

[Collection(TorchCollection.Name)]
public sealed class UNetMemoryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RepeatedForwardsLeaveNoLiveTensors(bool withGrad)
    {
        var o = Small(classes: 3);
        using var model = Build(o);
        using var outer = NewDisposeScope();
        var x = Noise(o, 2);
        var t = Timesteps(1.5f, 400);
        var cond = new Condition { Labels = Labels(0, 2) };
        using (var warmUp = NewDisposeScope()) Step();

        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        int ownedBefore = outer.DisposablesCount;
        for (int i = 0; i < 5; i++) Step();
        Assert.Equal(liveBefore, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(ownedBefore, outer.DisposablesCount);

        void Step()
        {
            using var gradMode = withGrad ? enable_grad() : no_grad();
            // The output is the only tensor forward hands back; disposing it must leave nothing behind.
            using var y = model.forward(x, t, cond);
            if (withGrad)
            {
                using var squared = y.square();
                using var loss = squared.mean();
                loss.backward();
                model.zero_grad();
            }
        }
    }
}
