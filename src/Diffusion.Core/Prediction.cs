namespace Diffusion.Core;

/// <summary>What a denoiser network outputs for a noisy input x_t = alpha·x0 + sigma·eps.</summary>
public enum Prediction
{
    /// <summary>The noise eps (Ho et al. 2020, Eq. 14).</summary>
    Epsilon,
    /// <summary>The velocity v = alpha·eps − sigma·x0 (Salimans &amp; Ho 2022, Sec. 4).</summary>
    V,
    /// <summary>The clean sample x0.</summary>
    Sample,
}
