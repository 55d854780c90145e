using Diffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Samplers;

/// <summary>Options of <see cref="UniPcSampler"/>.</summary>
public sealed record UniPcOptions
{
    /// <summary>Order p of the UniP predictor, 1 … 3; the UniC corrector raises the accuracy to p + 1.
    /// 2 suits guided sampling, 3 unconditional (Zhao et al. 2023, Sec. 4). Default 2.</summary>
    /// <exception cref="DiffusionException">Set outside 1 … 3.</exception>
    public int Order
    {
        get;
        init => field = value is >= 1 and <= 3 ? value : throw new DiffusionException($"UniPC order must be 1, 2 or 3, got {value}.");
    } = 2;

    /// <summary>Apply the UniC corrector after each step (it costs no extra network evaluation). Default true.</summary>
    public bool UseCorrector { get; init; } = true;

    /// <summary>Where the noise levels go. Default Karras sigmas.</summary>
    public SigmaScheduleOptions Sigmas { get; init; } = new();
}

/// <summary>
/// UniPC (Zhao et al. 2023): the UniP-p multistep predictor followed by the UniC corrector, in data
/// prediction with the B(h) = e^−h − 1 variant ("bh2"), in the VE view with lambda = −log sigma.
/// The corrector refines the sample just reached with the network evaluation made there anyway, so a
/// step costs one evaluation. Warms up from first order, lowers the order near the end, and returns
/// the data prediction on the last step (to sigma = 0). Deterministic.
/// </summary>
public sealed class UniPcSampler : ISampler
{
    /// <summary>Creates the sampler.</summary>
    /// <param name="options">Order, corrector and noise levels; defaults when null.</param>
    public UniPcSampler(UniPcOptions? options = null) => Options = options ?? new UniPcOptions();

    /// <summary>The sampler's options.</summary>
    public UniPcOptions Options { get; }

    /// <inheritdoc />
    public string Name => "unipc";

    /// <inheritdoc />
    public Tensor Sample(DenoiserView denoiser, SamplingRequest request, IProgress<SamplingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        SamplingRun.Validate(denoiser, request);
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var (sigmas, x) = SamplingRun.StartContinuous(denoiser, request, Options.Sigmas, SamplingRun.GeneratorOf(request));
        int total = sigmas.Length - 1;
        var history = new List<Tensor>();   // data predictions, newest first
        var lambdas = new List<double>();   // their lambda = −log sigma
        Tensor? previousX = null;           // the sample the last predictor step started from
        int previousOrder = 0;
        for (int i = 0; i < total; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            double sigma = sigmas[i], next = sigmas[i + 1], lambda = -Math.Log(sigma);
            var denoised = denoiser.Denoise(x, sigma, request.Condition);
            var current = x;
            if (Options.UseCorrector && previousX is not null && next > 0)
                current = Update(previousX, history, lambdas, previousOrder, sigmas[i - 1], sigma, denoised);
            history.Insert(0, denoised);
            lambdas.Insert(0, lambda);
            int order = Math.Min(Math.Min(Options.Order, history.Count), total - i);
            var xNext = next == 0 ? denoised.alias() : Update(current, history, lambdas, order, sigma, next, corrector: null);
            xNext = SamplingRun.Step(request, progress, i + 1, total, xNext, NoiseLevel.Ve(next), denoised);

            previousX?.Dispose();
            if (ReferenceEquals(current, x)) previousX = x;   // already owned by the outer scope
            else
            {
                x.Dispose();
                previousX = current.MoveToOuterDisposeScope();
            }
            previousOrder = order;
            x = xNext.MoveToOuterDisposeScope();
            history[0] = denoised.MoveToOuterDisposeScope();
            if (history.Count > Options.Order)
            {
                history[^1].Dispose();
                history.RemoveAt(history.Count - 1);
                lambdas.RemoveAt(lambdas.Count - 1);
            }
        }
        previousX?.Dispose();
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One UniP-p step (<paramref name="corrector"/> null) or UniC-p correction (the data prediction at the
    /// reached point given) from <paramref name="x"/> at <paramref name="sigma"/> to <paramref name="next"/>,
    /// using the data predictions <paramref name="history"/>[0 … p−1] (newest, taken at <paramref name="sigma"/>, first):
    /// x' = (sigma'/sigma)·x − φ1·m0 − B(h)·Σ_k rho_k·D_k with D_k = (m_k − m0)/r_k (Zhao et al. 2023, Algorithms 1–2).
    /// </summary>
    private static Tensor Update(Tensor x, List<Tensor> history, List<double> lambdas, int order, double sigma, double next, Tensor? corrector)
    {
        double h = Math.Log(sigma / next), hh = -h;
        double phi1 = SolverMath.ExpM1(hh);
        double bh = phi1;                                   // B(h) of the bh2 variant
        // Nodes r_k = (lambda_k − lambda_0)/h of the older predictions, then 1 for the end point.
        var r = new double[order];
        for (int k = 1; k < order; k++) r[k - 1] = (lambdas[k] - lambdas[0]) / h;
        r[order - 1] = 1.0;
        // Linear system R·rho = b: R[i, k] = r_k^i; b_i = i!·φ_{i+1}(hh)/B(h) with φ_{k+1} = φ_k/hh − 1/k!.
        var rMatrix = new double[order, order];
        var b = new double[order];
        double phiK = phi1 / hh - 1, factorial = 1;
        for (int i = 0; i < order; i++)
        {
            for (int k = 0; k < order; k++) rMatrix[i, k] = Math.Pow(r[k], i);
            b[i] = phiK * factorial / bh;
            factorial *= i + 2;
            phiK = phiK / hh - 1 / factorial;
        }
        var m0 = history[0];
        var result = x * (next / sigma) - m0 * phi1;
        double[] rho;
        int differences = order - 1;                        // D_k from the older predictions
        if (corrector is null)
        {
            if (differences == 0) return result;
            rho = differences == 1 ? new[] { 0.5 } : SolverMath.Solve(Sub(rMatrix, differences), b[..differences]);
        }
        else
        {
            rho = order == 1 ? new[] { 0.5 } : SolverMath.Solve(rMatrix, b);
        }
        Tensor? sum = null;
        for (int k = 1; k <= differences; k++)
        {
            var term = (history[k] - m0) * (rho[k - 1] / r[k - 1]);
            sum = sum is null ? term : sum + term;
        }
        if (corrector is not null)
        {
            var term = (corrector - m0) * rho[order - 1];
            sum = sum is null ? term : sum + term;
        }
        return result - sum! * bh;
    }

    private static double[,] Sub(double[,] a, int n)
    {
        var s = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++) s[i, k] = a[i, k];
        return s;
    }
}
