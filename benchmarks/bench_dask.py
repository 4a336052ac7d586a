"""asv benchmark for W10 (numgrad/bench_dask.py): logistic-regression loss and gradient over
row chunks on a 2-worker Dask LocalCluster, against numgrad's single-process cpu run and the
hand-written dask.array gradient.  Smaller than the bench's default (2e6 rows x 16, chunks of
1e5) so that asv's repeats stay short; skipped when dask is not installed."""
import numpy as np

ROWS, CHUNK = 2_000_000, 100_000


class DaskLogistic:
    timeout = 600
    number = 1
    repeat = 5

    def setup(self):
        try:
            import dask.array as da
            from distributed import Client, LocalCluster
        except ImportError:
            raise NotImplementedError("dask is not installed")
        import numgrad as ng
        from numgrad import bench_dask as bd
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                    silence_logs=40)
        self.client = Client(self.cluster)
        self.graph = ng.Graph()
        with self.graph.as_default():
            X, y, w, b, loss, grads = bd.build(ng)
            self.fetch = [loss] + grads
            Xd, yd = self.client.persist(list(bd.data(da, ROWS, CHUNK)))
            self.feed = {X: Xd, y: yd}
            self.Xd, self.yd = Xd, yd
            self.local_feed = {X: np.asarray(Xd.compute()), y: np.asarray(yd.compute())}
            self.sess = ng.Session(target=self.client)
            self.sess.run(ng.global_variables_initializer())
            self.local = ng.Session()
            self.local.run(ng.global_variables_initializer())
            self.w0, self.b0 = self.sess.run([w, b])
        self.sess.run(self.fetch, self.feed)            # compile on the workers
        self.local.run(self.fetch, self.local_feed)
        self.da = da

    def teardown(self):
        self.sess.close()
        self.local.close()
        self.client.close()
        self.cluster.close()

    def time_numgrad_dask(self):
        self.sess.run(self.fetch, self.feed)

    def time_numgrad_local(self):
        self.local.run(self.fetch, self.local_feed)

    def time_dask_array_by_hand(self):
        import dask
        from numgrad import bench_dask as bd
        dask.compute(*bd.hand_dask(self.da, self.Xd, self.yd, self.w0, self.b0))
