using static TorchSharp.torch;

namespace Diffusion.Core;

/// <summary>
/// Conversions between the three things a denoiser may predict, for x_t = alpha·x0 + sigma·eps with
/// alpha² + sigma² = 1. <c>alpha</c> and <c>sigma</c> are tensors broadcastable against the sample.
/// </summary>
public static class Parameterization
{
    /// <summary>The training target for <paramref name="prediction"/>: eps, v = alpha·eps − sigma·x0
    /// (Salimans &amp; Ho 2022, Eq. 12 context), or x0.</summary>
    public static Tensor Target(Prediction prediction, Tensor x0, Tensor eps, Tensor alpha, Tensor sigma) => prediction switch
    {
        Prediction.Epsilon => eps.alias(),
        Prediction.V => alpha * eps - sigma * x0,
        Prediction.Sample => x0.alias(),
        _ => throw new DiffusionException($"Unknown prediction {prediction}."),
    };

    /// <summary>x0 from a model output: x0 = (x_t − sigma·eps)/alpha, x0 = alpha·x_t − sigma·v, or the output itself.</summary>
    public static Tensor ToSample(Prediction prediction, Tensor output, Tensor xt, Tensor alpha, Tensor sigma) => prediction switch
    {
        Prediction.Epsilon => (xt - sigma * output) / alpha,
        Prediction.V => alpha * xt - sigma * output,
        Prediction.Sample => output.alias(),
        _ => throw new DiffusionException($"Unknown prediction {prediction}."),
    };

    /// <summary>eps from a model output: the output itself, eps = sigma·x_t + alpha·v, or eps = (x_t − alpha·x0)/sigma.</summary>
    public static Tensor ToEpsilon(Prediction prediction, Tensor output, Tensor xt, Tensor alpha, Tensor sigma) => prediction switch
    {
        Prediction.Epsilon => output.alias(),
        Prediction.V => sigma * xt + alpha * output,
        Prediction.Sample => (xt - alpha * output) / sigma,
        _ => throw new DiffusionException($"Unknown prediction {prediction}."),
    };
}
